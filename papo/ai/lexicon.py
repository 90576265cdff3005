"""Small hand-made tables the normaliser uses: emojis, abbreviations, polarity words, negators.

Every entry is in normalised form (lower-case, accents folded) because lookups happen after folding.
"""

from __future__ import annotations

# Emoji → token. Categories carry the polarity; a few emojis keep their own token because their
# meaning depends on context (👏 is praise or sarcasm, 🔥 is hype, 🙏 is please/thanks).
_EMOJI_GROUPS: dict[str, str] = {
    "xpos": "😍🥰😘❤♥💕💖💗💓💞💘💝😊☺🙂😀😃😄😁🤩👍👌💯✨🌟⭐😻💜💙💚🧡💛🖤🤍🤎🥳🎉🙌💪😋🤤😎🫶🤗💐🌹🌸😉😌",
    "xneg": "😡🤬😠😤😞😔😢😭😩😫👎💔😒😑🤢🤮😣😖☹🙁😕😟😬🤦💩😰😱😓😥😪🥺😿",
    "xlaugh": "😂🤣😅😆😹",
    "xmoney": "💰💸💵🤑💳🛒🛍",
    "xclap": "👏",
    "xfire": "🔥",
    "xpray": "🙏",
    "xthink": "🤔🧐",
    "xeyes": "👀",
    "xeyeroll": "🙄",
    "xshrug": "🤷",
    "xneutral": "😐😶",
    "xpoint": "👉👆👇☝",
    "xclock": "⏰⌛⏳🕐🕑🕒",
    "xphone": "📞📱☎📲",
    "xbox": "📦🚚🛵",
}
EMOJI: dict[str, str] = {ch: tok for tok, chars in _EMOJI_GROUPS.items() for ch in chars}

# Abbreviations and common spellings → canonical form. Shared across languages on purpose: where
# pt and es disagree ("tb"), either canonical form is fine because the model sees both.
ABBREVIATIONS: dict[str, str] = {
    # Portuguese
    "vc": "voce", "vcs": "voces", "ce": "voce", "oce": "voce",
    "pq": "porque", "pk": "porque", "porq": "porque", "xq": "porque",
    "qto": "quanto", "qnto": "quanto", "qnt": "quanto", "qt": "quanto", "qtu": "quanto", "quant": "quanto",
    "qta": "quanta", "qtos": "quantos", "qtas": "quantas",
    "q": "que", "k": "que", "ki": "que", "oq": "o que", "oque": "o que",
    "tb": "tambem", "tbm": "tambem", "tmb": "tambien", "tmbn": "tambien",
    "blz": "beleza", "vlw": "valeu", "vlws": "valeu", "obg": "obrigado", "obgd": "obrigado",
    "obgda": "obrigada", "obgdo": "obrigado", "brigado": "obrigado", "brigada": "obrigada",
    "msg": "mensagem", "msgs": "mensagens", "pfv": "por favor", "pf": "por favor", "pfvr": "por favor",
    "pls": "please", "plz": "please", "plis": "please", "pliz": "please",
    "xfa": "por favor", "porfa": "por favor", "porfis": "por favor", "xfavor": "por favor",
    "td": "tudo", "tds": "todos", "hj": "hoje", "dps": "depois", "cmg": "comigo", "ngm": "ninguem",
    "nd": "nada", "n": "nao", "naum": "nao", "nn": "nao", "nem": "nem",
    "mto": "muito", "mt": "muito", "mta": "muita", "mtos": "muitos", "mtas": "muitas", "muinto": "muito",
    "msm": "mesmo", "mds": "meu deus", "dnv": "de novo", "agr": "agora", "aki": "aqui", "aq": "aqui",
    "tmj": "tamo junto", "bjs": "beijos", "bj": "beijo", "bjos": "beijos", "sla": "sei la",
    "eh": "e", "ta": "esta", "tou": "estou", "tao": "estao",
    "qro": "quero", "qero": "quero", "kero": "quero", "qer": "quer", "qria": "queria",
    "vlr": "valor", "vl": "valor", "preso": "preco", "presso": "preco", "precinho": "preco",
    "tam": "tamanho", "tams": "tamanhos", "dispo": "disponivel", "disponivel": "disponivel",
    "add": "adicionar", "info": "informacao", "infos": "informacoes", "inf": "informacao",
    "whats": "whatsapp", "wpp": "whatsapp", "zap": "whatsapp", "zapzap": "whatsapp", "wts": "whatsapp",
    "wa": "whatsapp", "insta": "instagram", "dm": "direct", "inbox": "direct", "direct": "direct",
    "pix": "pix", "cartao": "cartao", "parcela": "parcela", "parcelado": "parcelado",
    "oii": "oi", "oie": "oi", "oiee": "oi",
    "nois": "nos", "ngn": "ninguem", "vdd": "verdade", "tlg": "ta ligado", "pqp": "palavrao",
    "fdp": "palavrao", "vsf": "palavrao", "porra": "palavrao", "merda": "palavrao", "caralho": "palavrao",
    "aff": "aff", "affs": "aff", "afe": "aff", "argh": "aff", "ugh": "aff",
    # Spanish
    "kiero": "quiero", "qiero": "quiero", "kien": "quien", "dnd": "donde", "cdo": "cuando",
    "grax": "gracias", "grs": "gracias", "grac": "gracias", "graxias": "gracias", "bn": "bien",
    "salu2": "saludos", "tqm": "te quiero", "xk": "porque", "porke": "porque", "d": "de",
    "cuant": "cuanto", "cuanto": "cuanto", "cnt": "cuanto", "dsp": "despues", "tmbien": "tambien",
    "wsp": "whatsapp", "guasap": "whatsapp", "hla": "hola",
    "mierda": "palavrao", "carajo": "palavrao", "joder": "palavrao",
    # English
    "u": "you", "ur": "your", "r": "are", "thx": "thanks", "thnx": "thanks", "tnx": "thanks",
    "ty": "thanks", "tks": "thanks", "tku": "thanks", "wanna": "want to", "gonna": "going to",
    "gimme": "give me", "hw": "how", "idk": "i do not know", "tmrw": "tomorrow", "tmr": "tomorrow",
    "rn": "right now", "asap": "asap", "pm": "direct", "im": "i am", "dont": "do not",
    "doesnt": "does not", "didnt": "did not", "isnt": "is not", "wasnt": "was not", "cant": "can not",
    "cannot": "can not", "wont": "will not", "havent": "have not", "aint": "is not", "ive": "i have",
    "wtf": "palavrao", "fck": "palavrao", "fucking": "palavrao", "shit": "palavrao",
    "lol": "xlaugh", "kk": "xlaugh", "lmao": "xlaugh", "haha": "xlaugh", "hehe": "xlaugh", "rs": "xlaugh",
}

NEGATORS = frozenset(
    {"nao", "nunca", "jamais", "nem", "sem", "nenhum", "nenhuma", "no", "ni", "sin", "tampoco", "ningun",
     "ninguna", "not", "never", "without", "nada", "nothing", "neither", "nor"}
)

# Words after which a negator still reaches further ("não me agradou", "no me gustó").
_SKIP_AFTER_NEGATOR = frozenset({"me", "te", "se", "lo", "la", "le", "foi", "fue", "was", "is", "be", "e",
                                 "es", "ficou", "tao", "tan", "so", "muy", "muito", "very", "too", "really",
                                 "that", "gostei", "tem", "hay", "do", "did", "are", "esta", "to", "estou"})
SKIP_AFTER_NEGATOR = _SKIP_AFTER_NEGATOR

def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


POSITIVE = _words(
    """
    amei amo adorei adoro ameii lindo linda lindos lindas maravilhoso maravilhosa perfeito perfeita
    otimo otima
    excelente incrivel top show massa demais bom boa bons boas gostei gosto curti curto recomendo parabens
    obrigado obrigada grato grata valeu satisfeito satisfeita sensacional espetacular divino divina
    deliciosa delicioso gostoso gostosa lindeza fofo fofa arrasou arrasando maravilha ameei apaixonada
    apaixonado encantada encantado rapido rapida atencioso atenciosa caprichado impecavel nota10 sucesso
    encanta encanto encantan encantaron gusta gusto gustaron gustan hermoso hermosa hermosos
    hermosas precioso preciosa bonito bonita bonitos bonitas genial buenisimo buenisima bueno
    buena buenos buenas rico rica riquisimo delicioso deliciosa gracias agradecido agradecida feliz
    maravilloso maravillosa perfecto perfecta increible recomendado chevere
    padre bacan lindisimo lindisima fantastico fantastica espectacular amable atento atenta
    love loved lovely beautiful gorgeous amazing awesome great good nice perfect excellent wonderful
    fantastic best happy thanks thank glad recommend recommended delicious cute stunning fast friendly
    helpful incredible brilliant cool fabulous impressed satisfied superb pleased
    sonho sucesso exito maravilha fofura capricho caprichoso caprichosa amores amor superou indico indiquei
    lindissimo lindissima perfeicao gratidao abencoe amem satisfeitissima felicidades recomiendo encantaron
    superb excited blessed grateful stunning lovely loved
    xpos xfire xlaugh
    """
)
NEGATIVE = _words(
    """
    ruim pessimo pessima horrivel terrivel odiei odeio detestei decepcionada decepcionado decepcao
    lixo porcaria absurdo absurda vergonha descaso atrasado atrasada atrasou atraso demora demorou
    demorando quebrado quebrada quebrou defeito estragado estragada estragou errado errada fria frio
    mal mau chateada chateado irritada irritado raiva palhacada golpe enganada enganado roubo
    roubada mentira mentirosos insatisfeita insatisfeito furada carissimo sujo suja mofado
    reclamacao reembolso estorno cancelamento piorou pior ignorada ignorado
    malo mala malos malas pesimo pesima odio odie
    decepcion basura verguenza estafa fraude enojado enojada molesto molesta roto rota rompio
    danado danada retraso tardaron equivocado equivocada carisimo
    reclamo devolucion estafadores peor
    bad awful terrible horrible worst hate hated disappointed disappointing broken damaged late delay
    delayed wrong rude scam fraud refund useless poor angry upset annoyed ridiculous
    unacceptable disgusting overpriced expensive dirty slow ignored sucks trash garbage
    golpista golpistas arrependida arrependido arrependi arrependo arrependimento prejuizo sumiram sumiu
    decepcionou decepcionaram decepciona fatal enrolando enrolaram enrolacao demorado demorada lento lenta
    ignoram ignoraram ignorando vacuo frustrada frustrado frustrante nojento nojo sujeira falsificado
    vencido vencida queimado queimada queimaram derretido amassado amassada rasgado rasgada manchado
    manchada faltando faltou quebraram estafaron estafado estafada tardanza demoran ignoran desastre
    arrepiento arrepentida arrepentido decepciono sucio sucia regret regrets disappoint stale ignoring fake
    xneg xeyeroll palavrao aff
    """
)
