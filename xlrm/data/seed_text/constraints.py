"""``seed-chat-constraint``: "list exactly n", "one sentence without a word" and "start
your reply with a word" prompts and their replies.
"""

from __future__ import annotations

# (a) "list exactly n": categories with 7 parallel items; zh needs a measure word.
LIST_TEMPLATES: dict[str, str] = {
    "en": "List exactly {n} {cat}, one per line and numbered.",
    "es": "Escribe una lista numerada con exactamente {n} {cat}, un elemento por línea.",
    "it": "Scrivi un elenco numerato con esattamente {n} {cat}, un elemento per riga.",
    "ko": "{cat_r} 정확히 {n}가지 나열하세요. 한 줄에 하나씩 번호를 붙여 주세요.",
    "zh": "请列出恰好{n}{m}{cat}，每行一个，并编上序号。",
}
LIST_CATEGORIES: dict[str, list[dict]] = {
    "en": [
        {"cat": "fruits", "items": ["apple", "banana", "cherry", "grape", "mango", "orange", "pear"]},
        {"cat": "animals", "items": ["dog", "cat", "horse", "rabbit", "elephant", "lion", "tiger"]},
        {"cat": "colours", "items": ["red", "blue", "green", "yellow", "black", "white", "purple"]},
        {"cat": "countries", "items": ["France", "Spain", "Italy", "Japan", "Brazil", "Canada",
                                       "Egypt"]},
    ],
    "es": [
        {"cat": "frutas", "items": ["manzana", "plátano", "cereza", "uva", "mango", "naranja",
                                    "pera"]},
        {"cat": "animales", "items": ["perro", "gato", "caballo", "conejo", "elefante", "león",
                                      "tigre"]},
        {"cat": "colores", "items": ["rojo", "azul", "verde", "amarillo", "negro", "blanco",
                                     "morado"]},
        {"cat": "países", "items": ["Francia", "España", "Italia", "Japón", "Brasil", "Canadá",
                                    "Egipto"]},
    ],
    "it": [
        {"cat": "frutti", "items": ["mela", "banana", "ciliegia", "uva", "mango", "arancia", "pera"]},
        {"cat": "animali", "items": ["cane", "gatto", "cavallo", "coniglio", "elefante", "leone",
                                     "tigre"]},
        {"cat": "colori", "items": ["rosso", "blu", "verde", "giallo", "nero", "bianco", "viola"]},
        {"cat": "paesi", "items": ["Francia", "Spagna", "Italia", "Giappone", "Brasile", "Canada",
                                   "Egitto"]},
    ],
    "ko": [
        {"cat": "과일", "items": ["사과", "바나나", "체리", "포도", "망고", "오렌지", "배"]},
        {"cat": "동물", "items": ["개", "고양이", "말", "토끼", "코끼리", "사자", "호랑이"]},
        {"cat": "색깔", "items": ["빨간색", "파란색", "초록색", "노란색", "검은색", "흰색", "보라색"]},
        {"cat": "나라", "items": ["프랑스", "스페인", "이탈리아", "일본", "브라질", "캐나다", "이집트"]},
    ],
    "zh": [
        {"cat": "水果", "m": "种", "items": ["苹果", "香蕉", "樱桃", "葡萄", "芒果", "橙子", "梨"]},
        {"cat": "动物", "m": "种", "items": ["狗", "猫", "马", "兔子", "大象", "狮子", "老虎"]},
        {"cat": "颜色", "m": "种", "items": ["红色", "蓝色", "绿色", "黄色", "黑色", "白色", "紫色"]},
        {"cat": "国家", "m": "个", "items": ["法国", "西班牙", "意大利", "日本", "巴西", "加拿大",
                                           "埃及"]},
    ],
}

# (b) "one sentence without the word w": (topic, w, sentence keeping it, sentence using w).
AVOID_TEMPLATES: dict[str, str] = {
    "en": "Describe {topic} in one sentence without using the word \"{word}\".",
    "es": "Describe {topic} en una sola frase sin usar la palabra «{word}».",
    "it": "Descrivi {topic} in una sola frase senza usare la parola «{word}».",
    "ko": "'{word}'{ra} 단어를 쓰지 말고 {topic_r} 한 문장으로 설명하세요.",
    "zh": "请用一句话描述{topic}，不要使用“{word}”这个词。",
}
AVOID_ITEMS: dict[str, list[tuple[str, str, str, str]]] = {
    "en": [
        ("the sea", "water",
         "The sea is a huge salty expanse where whales, sharks and countless fish live.",
         "The sea is a huge body of salt water where whales and fish live."),
        ("the sun", "light",
         "The sun is the star at the centre of our solar system that keeps the Earth warm.",
         "The sun is a star that gives the Earth light and warmth."),
        ("winter", "snow",
         "Winter is the coldest season of the year, with short days and long nights.",
         "Winter is the coldest season of the year, when snow often covers the ground."),
        ("a cat", "mice",
         "A cat is a small furry animal that likes to sleep, purr and play.",
         "A cat is a small furry animal that likes to chase mice around the house."),
        ("a school", "teacher",
         "A school is a place where children go every day to learn and make friends.",
         "A school is a place where a teacher helps children learn."),
        ("a forest", "trees",
         "A forest is a large wild area full of plants, birds and other animals.",
         "A forest is a large area covered with tall trees, where birds and deer live."),
    ],
    "es": [
        ("el mar", "agua",
         "El mar es una enorme extensión salada donde viven ballenas, tiburones y muchísimos peces.",
         "El mar es una gran masa de agua salada donde viven ballenas y peces."),
        ("el sol", "luz",
         "El sol es la estrella del centro de nuestro sistema solar que mantiene caliente la Tierra.",
         "El sol es una estrella que da luz y calor a la Tierra."),
        ("el invierno", "nieve",
         "El invierno es la estación más fría del año, con días cortos y noches largas.",
         "El invierno es la estación más fría del año, cuando la nieve suele cubrir el suelo."),
        ("un gato", "ratones",
         "Un gato es un animal pequeño y peludo al que le gusta dormir, ronronear y jugar.",
         "Un gato es un animal pequeño y peludo al que le gusta perseguir ratones por la casa."),
        ("una escuela", "maestro",
         "Una escuela es un lugar al que los niños van cada día para aprender y hacer amigos.",
         "Una escuela es un lugar donde un maestro ayuda a los niños a aprender."),
        ("un bosque", "árboles",
         "Un bosque es una gran zona natural llena de plantas, pájaros y otros animales.",
         "Un bosque es una gran zona cubierta de árboles altos, donde viven pájaros y ciervos."),
    ],
    "it": [
        ("il mare", "acqua",
         "Il mare è un'enorme distesa salata dove vivono balene, squali e tantissimi pesci.",
         "Il mare è una grande massa di acqua salata dove vivono balene e pesci."),
        ("il sole", "luce",
         "Il sole è la stella al centro del nostro sistema solare che mantiene calda la Terra.",
         "Il sole è una stella che dà luce e calore alla Terra."),
        ("l'inverno", "neve",
         "L'inverno è la stagione più fredda dell'anno, con giornate corte e notti lunghe.",
         "L'inverno è la stagione più fredda dell'anno, quando la neve copre spesso il terreno."),
        ("un gatto", "topi",
         "Un gatto è un piccolo animale peloso a cui piace dormire, fare le fusa e giocare.",
         "Un gatto è un piccolo animale peloso a cui piace dare la caccia ai topi in casa."),
        ("una scuola", "insegnante",
         "Una scuola è un luogo dove i bambini vanno ogni giorno per imparare e fare amicizia.",
         "Una scuola è un luogo dove un insegnante aiuta i bambini a imparare."),
        ("un bosco", "alberi",
         "Un bosco è una grande area naturale piena di piante, uccelli e altri animali.",
         "Un bosco è una grande area coperta di alberi alti, dove vivono uccelli e cervi."),
    ],
    "ko": [
        ("바다", "물", "바다는 고래와 상어, 수많은 어류가 사는 넓고 짠 곳입니다.",
         "바다는 고래와 물고기가 사는 넓고 짠 물입니다."),
        ("태양", "빛", "태양은 태양계의 중심에 있는 별로, 지구를 따뜻하게 해 줍니다.",
         "태양은 지구에 빛과 열을 주는 별입니다."),
        ("겨울", "눈", "겨울은 낮이 짧고 밤이 긴, 일 년 중 가장 추운 계절입니다.",
         "겨울은 일 년 중 가장 추운 계절로, 땅이 자주 눈으로 덮입니다."),
        ("고양이", "쥐", "고양이는 잠자고 놀기를 좋아하는 작고 털이 많은 동물입니다.",
         "고양이는 집 안에서 쥐를 쫓아다니기 좋아하는 작고 털이 많은 동물입니다."),
        ("학교", "선생님", "학교는 아이들이 매일 가서 공부하고 친구를 사귀는 곳입니다.",
         "학교는 선생님이 아이들의 공부를 도와주는 곳입니다."),
        ("숲", "나무", "숲은 식물과 새, 여러 동물이 가득한 넓은 자연 지역입니다.",
         "숲은 키 큰 나무로 덮여 있고 새와 사슴이 사는 넓은 지역입니다."),
    ],
    "zh": [
        ("大海", "水", "大海是一片广阔而咸的地方，鲸鱼、鲨鱼和无数鱼类都生活在那里。",
         "大海是一大片咸咸的海水，鲸鱼和鱼类生活在其中。"),
        ("太阳", "光", "太阳是位于太阳系中心的恒星，它让地球保持温暖。",
         "太阳是一颗给地球带来光和热的恒星。"),
        ("冬天", "雪", "冬天是一年中最冷的季节，白天短，夜晚长。",
         "冬天是一年中最冷的季节，地面常常被雪覆盖。"),
        ("猫", "老鼠", "猫是一种喜欢睡觉和玩耍的毛茸茸的小动物。",
         "猫是一种喜欢在家里追老鼠的毛茸茸的小动物。"),
        ("学校", "老师", "学校是孩子们每天去学习和交朋友的地方。",
         "学校是老师帮助孩子们学习的地方。"),
        ("森林", "树", "森林是一片充满植物、鸟类和其他动物的广阔自然区域。",
         "森林是一大片长满高大树木、有鸟和鹿生活的地方。"),
    ],
}

# (c) "start your reply with the word w": the answer is a fact from the tables above.
START_TEMPLATES: dict[str, str] = {
    "en": "Start your reply with the word \"{word}\". {question}",
    "es": "Empieza tu respuesta con la palabra «{word}». {question}",
    "it": "Inizia la risposta con la parola «{word}». {question}",
    "ko": "'{word}'{ra} 말로 답변을 시작하세요. {question}",
    "zh": "请用“{word}”开头回答。{question}",
}
START_WORDS: dict[str, list[str]] = {
    "en": ["Certainly", "Indeed", "Yes", "Well"],
    "es": ["Claro", "Sí", "Bueno", "Efectivamente"],
    "it": ["Certo", "Sì", "Bene", "Allora"],
    "ko": ["물론입니다", "네", "좋아요", "그럼요"],
    "zh": ["当然", "好的", "是的", "嗯"],
}
START_SEP: dict[str, str] = {"en": ", ", "es": ", ", "it": ", ", "ko": ", ", "zh": "，"}
