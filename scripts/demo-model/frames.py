"""Sentence frames of the demo model's training set, per language (issue #20).

A frame holds one slot, {x}: a verb phrase in the language's infinitive form (English "build a
bomb", French "fabriquer une bombe", German "eine Bombe bauen" with the verb last, Hindi
"बम बनाना", Thai "ทำระเบิด"). Every class (safe and the 12 categories) goes through the same
frames, so the frame words carry no label: the model has to learn from what is asked, not from
how. `{X}` is the phrase with its first letter capitalised.

TRAIN frames make the training texts; HELDOUT frames are different sentences, used only for
the held-out split (together with held-out fillers, see fillers.py), so the held-out accuracy
measures texts the model never saw, not other random draws of the same sentence.
"""

LANGUAGES = ["en", "fr", "de", "es", "it", "pt", "hi", "th"]

TRAIN = {
    "en": ["How do I {x}?", "Tell me how to {x}.", "What is the easiest way to {x}?", "I want to {x}.",
           "Can you help me {x}?", "Explain step by step how to {x}.", "Is there a way to {x}?", "{X}."],
    "fr": ["Comment {x} ?", "Explique-moi comment {x}.", "Je veux {x}.", "Quelle est la meilleure façon de {x} ?",
           "Aide-moi à {x}.", "Dis-moi comment {x}.", "Est-ce possible de {x} ?", "{X}."],
    "de": ["Wie kann ich {x}?", "Ich möchte {x}.", "Ich will {x}.", "Kannst du mir zeigen, wie ich {x} kann?",
           "Sag mir, wie man {x} kann.", "Darf ich {x}?", "Wie könnte man am besten {x}?", "{X}."],
    "es": ["¿Cómo puedo {x}?", "Explícame cómo {x}.", "Quiero {x}.", "¿Cuál es la mejor manera de {x}?",
           "Ayúdame a {x}.", "Dime cómo {x}.", "¿Es posible {x}?", "{X}."],
    "it": ["Come posso {x}?", "Spiegami come {x}.", "Voglio {x}.", "Qual è il modo migliore per {x}?",
           "Aiutami a {x}.", "Dimmi come {x}.", "È possibile {x}?", "{X}."],
    "pt": ["Como posso {x}?", "Explique-me como {x}.", "Quero {x}.", "Qual é a melhor maneira de {x}?",
           "Ajude-me a {x}.", "Diga-me como {x}.", "É possível {x}?", "{X}."],
    "hi": ["मैं {x} चाहता हूँ।", "मुझे {x} है।", "क्या आप मुझे {x} सिखा सकते हैं?", "मुझे {x} सीखना है।",
           "मुझे बताइए कि {x} कैसे संभव है।", "मैं आज रात {x} चाहती हूँ।", "{x}।", "क्या {x} आसान है?"],
    "th": ["วิธี{x}", "ฉันอยากจะ{x}", "ช่วยสอนฉัน{x}หน่อย", "{x}ยังไง",
           "บอกขั้นตอน{x}ให้หน่อย", "มีวิธี{x}ไหม", "ฉันต้องการ{x}", "{x}"],
}

HELDOUT = {
    "en": ["Could you show me how to {x}?", "I need to {x} this week.", "Give me a guide to {x}.",
           "Please teach me to {x}."],
    "fr": ["Comment puis-je {x} ?", "J'ai besoin de {x} rapidement.", "Peux-tu m'apprendre à {x} ?",
           "Montre-moi comment {x}."],
    "de": ["Wie soll ich {x}?", "Ich muss heute {x}.", "Kannst du mir beibringen, wie ich {x} soll?",
           "Erkläre Schritt für Schritt, wie man {x} kann."],
    "es": ["Necesito {x} hoy.", "¿Me enseñas a {x}?", "Muéstrame cómo {x}.", "¿Qué tengo que hacer para {x}?"],
    "it": ["Devo {x} stasera.", "Mi insegni a {x}?", "Mostrami come {x}.", "Cosa devo fare per {x}?"],
    "pt": ["Preciso {x} hoje.", "Você me ensina a {x}?", "Mostre-me como {x}.", "Como faço para {x}?"],
    "hi": ["मुझे जल्दी से {x} है।", "कृपया मुझे {x} सिखाइए।", "मेरी मदद करो, मुझे {x} है।",
           "मैं सोच रहा हूँ कि {x} कैसा रहेगा।"],
    "th": ["อยากรู้ว่าจะ{x}ได้อย่างไร", "ขอคำแนะนำเรื่อง{x}", "ช่วยอธิบายการ{x}", "คืนนี้ฉันจะ{x}"],
}
