"""Text every seed subset shares: neutral filler sentences (length balance), how sentences
are joined, and the function words that tell the Latin-script languages apart.
"""

from __future__ import annotations

# Neutral filler sentences used to balance lengths. They hold no digits, no refusal
# phrases and none of the facts below. "open" go before an answer, "close" after it
# (closers are always used in list order).
FILLERS: dict[str, dict[str, list[str]]] = {
    "en": {
        "open": ["Thanks for your question.", "Let me answer briefly.", "Here is my answer."],
        "close": ["That is my short answer.", "I hope this helps.",
                  "Let me know if you have any other questions.", "Have a nice day!"],
    },
    "es": {
        "open": ["Gracias por tu pregunta.", "Te respondo brevemente.", "Esta es mi respuesta."],
        "close": ["Esa es mi respuesta breve.", "Espero que esto te ayude.",
                  "Dime si tienes alguna otra pregunta.", "¡Que tengas un buen día!"],
    },
    "it": {
        "open": ["Grazie per la domanda.", "Ti rispondo brevemente.", "Ecco la mia risposta."],
        "close": ["Questa è la mia risposta breve.", "Spero che questo ti sia utile.",
                  "Fammi sapere se hai altre domande.", "Buona giornata!"],
    },
    "ko": {
        "open": ["질문해 주셔서 감사합니다.", "간단히 답해 드릴게요.", "제 답변은 다음과 같습니다."],
        "close": ["이상이 제 짧은 답변입니다.", "도움이 되었으면 좋겠습니다.",
                  "다른 궁금한 점이 있으면 언제든지 알려 주세요.", "좋은 하루 보내세요!"],
    },
    "zh": {
        "open": ["谢谢你的提问。", "我来简单回答一下。", "这是我的回答。"],
        "close": ["以上是我的简短回答。", "希望这个回答对你有帮助。",
                  "如果你还有其他问题，欢迎随时问我。", "祝你今天过得愉快！"],
    },
}

# Text joining sentences (Chinese runs sentences together).
JOINER: dict[str, str] = {"en": " ", "es": " ", "it": " ", "ko": " ", "zh": ""}

# Frequent function words that tell the three Latin-script languages apart.
STOPWORDS: dict[str, set[str]] = {
    "en": {"the", "is", "of", "and", "mainly", "eats", "are", "to", "you", "for", "this",
           "it", "have", "my", "any", "me", "i", "if", "your", "here", "what", "does", "with"},
    "es": {"el", "los", "las", "de", "es", "y", "que", "en", "por", "para", "más",
           "principalmente", "está", "esta", "son", "al", "su", "espero", "tienes", "dime",
           "gracias", "pregunta", "qué"},
    "it": {"il", "lo", "gli", "di", "della", "è", "e", "che", "per", "più", "soprattutto",
           "sono", "ha", "nel", "alla", "dei", "delle", "spero", "hai", "sia", "ecco",
           "grazie", "domanda", "cosa"},
}
