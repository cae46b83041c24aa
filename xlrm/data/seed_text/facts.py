"""Facts of ``seed-chat-topic`` and ``seed-chat-language`` (also the answers of the
"start with a word" constraint): capitals, what animals eat, colours.
"""

from __future__ import annotations

# Capital cities: (country as used in the template, capital).
CAPITAL_TEMPLATES: dict[str, tuple[str, str]] = {
    "en": ("What is the capital of {country}?", "The capital of {country} is {city}."),
    "es": ("¿Cuál es la capital de {country}?", "La capital de {country} es {city}."),
    "it": ("Qual è la capitale {country}?", "La capitale {country} è {city}."),
    "ko": ("{country}의 수도는 어디입니까?", "{country}의 수도는 {city}입니다."),
    "zh": ("{country}的首都是哪里？", "{country}的首都是{city}。"),
}
CAPITALS: dict[str, list[tuple[str, str]]] = {
    "en": [("France", "Paris"), ("Spain", "Madrid"), ("Italy", "Rome"), ("Japan", "Tokyo"),
           ("Germany", "Berlin"), ("Egypt", "Cairo"), ("Canada", "Ottawa"),
           ("Brazil", "Brasília"), ("South Korea", "Seoul"), ("China", "Beijing")],
    "es": [("Francia", "París"), ("España", "Madrid"), ("Italia", "Roma"), ("Japón", "Tokio"),
           ("Alemania", "Berlín"), ("Egipto", "El Cairo"), ("Canadá", "Ottawa"),
           ("Brasil", "Brasilia"), ("Corea del Sur", "Seúl"), ("China", "Pekín")],
    "it": [("della Francia", "Parigi"), ("della Spagna", "Madrid"), ("dell'Italia", "Roma"),
           ("del Giappone", "Tokyo"), ("della Germania", "Berlino"), ("dell'Egitto", "il Cairo"),
           ("del Canada", "Ottawa"), ("del Brasile", "Brasília"),
           ("della Corea del Sud", "Seul"), ("della Cina", "Pechino")],
    "ko": [("프랑스", "파리"), ("스페인", "마드리드"), ("이탈리아", "로마"), ("일본", "도쿄"),
           ("독일", "베를린"), ("이집트", "카이로"), ("캐나다", "오타와"),
           ("브라질", "브라질리아"), ("대한민국", "서울"), ("중국", "베이징")],
    "zh": [("法国", "巴黎"), ("西班牙", "马德里"), ("意大利", "罗马"), ("日本", "东京"),
           ("德国", "柏林"), ("埃及", "开罗"), ("加拿大", "渥太华"),
           ("巴西", "巴西利亚"), ("韩国", "首尔"), ("中国", "北京")],
}

# What an animal mainly eats: (question, answer, the fact word the answer must contain).
ANIMAL_FOOD: dict[str, list[tuple[str, str, str]]] = {
    "en": [
        ("What does the panda mainly eat?", "The panda mainly eats bamboo.", "bamboo"),
        ("What does the koala mainly eat?", "The koala mainly eats eucalyptus leaves.", "eucalyptus"),
        ("What does the cow mainly eat?", "The cow mainly eats grass.", "grass"),
        ("What does the squirrel mainly eat?", "The squirrel mainly eats nuts and seeds.", "nuts"),
        ("What does the bee mainly eat?", "The bee mainly eats nectar from flowers.", "nectar"),
        ("What does the frog mainly eat?", "The frog mainly eats insects.", "insects"),
        ("What does the blue whale mainly eat?", "The blue whale mainly eats krill.", "krill"),
    ],
    "es": [
        ("¿Qué come principalmente el panda?", "El panda come principalmente bambú.", "bambú"),
        ("¿Qué come principalmente el koala?", "El koala come principalmente hojas de eucalipto.",
         "eucalipto"),
        ("¿Qué come principalmente la vaca?", "La vaca come principalmente hierba.", "hierba"),
        ("¿Qué come principalmente la ardilla?", "La ardilla come principalmente nueces y semillas.",
         "nueces"),
        ("¿Qué come principalmente la abeja?", "La abeja come principalmente néctar de las flores.",
         "néctar"),
        ("¿Qué come principalmente la rana?", "La rana come principalmente insectos.", "insectos"),
        ("¿Qué come principalmente la ballena azul?", "La ballena azul come principalmente kril.",
         "kril"),
    ],
    "it": [
        ("Cosa mangia soprattutto il panda?", "Il panda mangia soprattutto bambù.", "bambù"),
        ("Cosa mangia soprattutto il koala?", "Il koala mangia soprattutto foglie di eucalipto.",
         "eucalipto"),
        ("Cosa mangia soprattutto la mucca?", "La mucca mangia soprattutto erba.", "erba"),
        ("Cosa mangia soprattutto lo scoiattolo?", "Lo scoiattolo mangia soprattutto noci e semi.",
         "noci"),
        ("Cosa mangia soprattutto l'ape?", "L'ape mangia soprattutto il nettare dei fiori.",
         "nettare"),
        ("Cosa mangia soprattutto la rana?", "La rana mangia soprattutto insetti.", "insetti"),
        ("Cosa mangia soprattutto la balenottera azzurra?",
         "La balenottera azzurra mangia soprattutto krill.", "krill"),
    ],
    "ko": [
        ("판다는 주로 무엇을 먹습니까?", "판다는 주로 대나무를 먹습니다.", "대나무"),
        ("코알라는 주로 무엇을 먹습니까?", "코알라는 주로 유칼립투스 잎을 먹습니다.", "유칼립투스"),
        ("소는 주로 무엇을 먹습니까?", "소는 주로 풀을 먹습니다.", "풀"),
        ("다람쥐는 주로 무엇을 먹습니까?", "다람쥐는 주로 견과류와 씨앗을 먹습니다.", "견과류"),
        ("벌은 주로 무엇을 먹습니까?", "벌은 주로 꽃의 꿀을 먹습니다.", "꿀"),
        ("개구리는 주로 무엇을 먹습니까?", "개구리는 주로 곤충을 먹습니다.", "곤충"),
        ("대왕고래는 주로 무엇을 먹습니까?", "대왕고래는 주로 크릴을 먹습니다.", "크릴"),
    ],
    "zh": [
        ("熊猫主要吃什么？", "熊猫主要吃竹子。", "竹子"),
        ("考拉主要吃什么？", "考拉主要吃桉树叶。", "桉树"),
        ("牛主要吃什么？", "牛主要吃草。", "草"),
        ("松鼠主要吃什么？", "松鼠主要吃坚果和种子。", "坚果"),
        ("蜜蜂主要吃什么？", "蜜蜂主要吃花蜜。", "花蜜"),
        ("青蛙主要吃什么？", "青蛙主要吃昆虫。", "昆虫"),
        ("蓝鲸主要吃什么？", "蓝鲸主要吃磷虾。", "磷虾"),
    ],
}

# Colour of things: (question, answer, fact word).
COLOURS: dict[str, list[tuple[str, str, str]]] = {
    "en": [
        ("What colour is snow?", "Snow is white.", "white"),
        ("What colour is a ripe banana?", "A ripe banana is yellow.", "yellow"),
        ("What colour is a clear sky during the day?", "A clear sky during the day is blue.",
         "blue"),
        ("What colour are ripe strawberries?", "Ripe strawberries are red.", "red"),
        ("What colour is coal?", "Coal is black.", "black"),
        ("What colour are carrots?", "Carrots are orange.", "orange"),
        ("What colour is fresh grass?", "Fresh grass is green.", "green"),
    ],
    "es": [
        ("¿De qué color es la nieve?", "La nieve es blanca.", "blanca"),
        ("¿De qué color es un plátano maduro?", "Un plátano maduro es amarillo.", "amarillo"),
        ("¿De qué color es el cielo despejado durante el día?",
         "El cielo despejado durante el día es azul.", "azul"),
        ("¿De qué color son las fresas maduras?", "Las fresas maduras son rojas.", "rojas"),
        ("¿De qué color es el carbón?", "El carbón es negro.", "negro"),
        ("¿De qué color son las zanahorias?", "Las zanahorias son naranjas.", "naranjas"),
        ("¿De qué color es la hierba fresca?", "La hierba fresca es verde.", "verde"),
    ],
    "it": [
        ("Di che colore è la neve?", "La neve è bianca.", "bianca"),
        ("Di che colore è una banana matura?", "Una banana matura è gialla.", "gialla"),
        ("Di che colore è il cielo sereno durante il giorno?",
         "Il cielo sereno durante il giorno è azzurro.", "azzurro"),
        ("Di che colore sono le fragole mature?", "Le fragole mature sono rosse.", "rosse"),
        ("Di che colore è il carbone?", "Il carbone è nero.", "nero"),
        ("Di che colore sono le carote?", "Le carote sono arancioni.", "arancioni"),
        ("Di che colore è l'erba fresca?", "L'erba fresca è verde.", "verde"),
    ],
    "ko": [
        ("겨울에 내리는 눈은 무슨 색입니까?", "겨울에 내리는 눈은 하얀색입니다.", "하얀색"),
        ("잘 익은 바나나는 무슨 색입니까?", "잘 익은 바나나는 노란색입니다.", "노란색"),
        ("맑은 날 낮의 하늘은 무슨 색입니까?", "맑은 날 낮의 하늘은 파란색입니다.", "파란색"),
        ("잘 익은 딸기는 무슨 색입니까?", "잘 익은 딸기는 빨간색입니다.", "빨간색"),
        ("석탄은 무슨 색입니까?", "석탄은 검은색입니다.", "검은색"),
        ("당근은 무슨 색입니까?", "당근은 주황색입니다.", "주황색"),
        ("싱싱한 풀은 무슨 색입니까?", "싱싱한 풀은 초록색입니다.", "초록색"),
    ],
    "zh": [
        ("雪是什么颜色的？", "雪是白色的。", "白色"),
        ("成熟的香蕉是什么颜色的？", "成熟的香蕉是黄色的。", "黄色"),
        ("晴天白天的天空是什么颜色的？", "晴天白天的天空是蓝色的。", "蓝色"),
        ("成熟的草莓是什么颜色的？", "成熟的草莓是红色的。", "红色"),
        ("煤是什么颜色的？", "煤是黑色的。", "黑色"),
        ("胡萝卜是什么颜色的？", "胡萝卜是橙色的。", "橙色"),
        ("新鲜的草是什么颜色的？", "新鲜的草是绿色的。", "绿色"),
    ],
}
