"""Unicode confusable skeletons (UTS #39) for the scripts defacers borrow letters from.

"Нacked by" with a Cyrillic Н, "ΗΑCΚΕD" in Greek capitals, fullwidth or mathematical-bold letters all
read as Latin to a visitor; signatures see them as Latin too after `skeleton()`. The table is generated
from the Unicode Consortium's confusables.txt (as shipped, in JSON form, by the confusable-homoglyphs
package 3.3.1; Unicode License v3): every character of Greek, Cyrillic, Armenian, Cherokee, Georgian,
IPA/Latin extensions, letterlike symbols, fullwidth forms, enclosed and mathematical alphanumerics whose
confusable is one ASCII letter or digit, plus a few lower-case Cyrillic/Greek letters that read as Latin
in most fonts (к м т н в ε κ τ ω). Scripts with their own words in the rules (Khmer, Thai, Arabic,
Vietnamese letters with diacritics) are left alone. `str.translate` with this table is linear and C-speed.
"""

from __future__ import annotations

_FROM = (
    "ƄƍƖƦƧƷƼƽǀȜȢȣɑɡɣɩɪɯʋʏͺͿΑΒΕΖΗΙΚΜΝΟΡΤΥΧαγινορσυϒϜϨϱϲϳϹϺЅІЈАВЕЗКМНОРСТУХЬабгеорсухѕіјѡѴѵҮүһҽӀӏӠԁԌԛԜԝՍՏՕա"
    "գզհոռսցքօყჿᎠᎡᎢᎥᎩᎪᎫᎬᎳᎷᎻᎽᏀᏂᏃᏎᏏᏒᏔᏕᏙᏚᏞᏟᏢᏦᏧᏮᏳᏴᴄᴏᴑᴜᴠᴡᴢᴦᶃᶌιℂℊℋℌℍℎℐℑℒℓℕℙℚℛℜℝℤℨKℬℭ℮ℯℰℱℳℴℹℽⅅⅆⅇⅈⅉꙄꙇＡＢＣＥＨＩＪＫＭＮＯＰ"
    "ＳＴＸＹＺａｃｅｇｈｉｊｌｏｐｓｖｘｙ￨𝐀𝐁𝐂𝐃𝐄𝐅𝐆𝐇𝐈𝐉𝐊𝐋𝐌𝐍𝐎𝐏𝐐𝐑𝐒𝐓𝐔𝐕𝐖𝐗𝐘𝐙𝐚𝐛𝐜𝐝𝐞𝐟𝐠𝐡𝐢𝐣𝐤𝐥𝐧𝐨𝐩𝐪𝐫𝐬𝐭𝐮𝐯𝐰𝐱𝐲𝐳𝐴𝐵𝐶𝐷𝐸𝐹𝐺𝐻𝐼𝐽𝐾𝐿𝑀𝑁𝑂𝑃𝑄𝑅𝑆𝑇𝑈𝑉𝑊𝑋𝑌𝑍𝑎𝑏𝑐"
    "𝑑𝑒𝑓𝑔𝑖𝑗𝑘𝑙𝑛𝑜𝑝𝑞𝑟𝑠𝑡𝑢𝑣𝑤𝑥𝑦𝑧𝑨𝑩𝑪𝑫𝑬𝑭𝑮𝑯𝑰𝑱𝑲𝑳𝑴𝑵𝑶𝑷𝑸𝑹𝑺𝑻𝑼𝑽𝑾𝑿𝒀𝒁𝒂𝒃𝒄𝒅𝒆𝒇𝒈𝒉𝒊𝒋𝒌𝒍𝒏𝒐𝒑𝒒𝒓𝒔𝒕𝒖𝒗𝒘𝒙𝒚𝒛𝒜𝒞𝒟𝒢𝒥𝒦𝒩𝒪𝒫𝒬𝒮𝒯𝒰𝒱𝒲𝒳𝒴𝒵𝒶𝒷𝒸𝒹𝒻𝒽𝒾𝒿𝓀𝓁"
    "𝓃𝓅𝓆𝓇𝓈𝓉𝓊𝓋𝓌𝓍𝓎𝓏𝓐𝓑𝓒𝓓𝓔𝓕𝓖𝓗𝓘𝓙𝓚𝓛𝓜𝓝𝓞𝓟𝓠𝓡𝓢𝓣𝓤𝓥𝓦𝓧𝓨𝓩𝓪𝓫𝓬𝓭𝓮𝓯𝓰𝓱𝓲𝓳𝓴𝓵𝓷𝓸𝓹𝓺𝓻𝓼𝓽𝓾𝓿𝔀𝔁𝔂𝔃𝔄𝔅𝔇𝔈𝔉𝔊𝔍𝔎𝔏𝔐𝔑𝔒𝔓𝔔𝔖𝔗𝔘𝔙𝔚𝔛𝔜𝔞𝔟𝔠𝔡𝔢𝔣𝔤𝔥𝔦𝔧𝔨𝔩𝔫𝔬𝔭𝔮"
    "𝔯𝔰𝔱𝔲𝔳𝔴𝔵𝔶𝔷𝔸𝔹𝔻𝔼𝔽𝔾𝕀𝕁𝕂𝕃𝕄𝕆𝕊𝕋𝕌𝕍𝕎𝕏𝕐𝕒𝕓𝕔𝕕𝕖𝕗𝕘𝕙𝕚𝕛𝕜𝕝𝕟𝕠𝕡𝕢𝕣𝕤𝕥𝕦𝕧𝕨𝕩𝕪𝕫𝕬𝕭𝕮𝕯𝕰𝕱𝕲𝕳𝕴𝕵𝕶𝕷𝕸𝕹𝕺𝕻𝕼𝕽𝕾𝕿𝖀𝖁𝖂𝖃𝖄𝖅𝖆𝖇𝖈𝖉𝖊𝖋𝖌𝖍𝖎𝖏𝖐𝖑𝖓𝖔𝖕𝖖𝖗𝖘𝖙𝖚𝖛"
    "𝖜𝖝𝖞𝖟𝖠𝖡𝖢𝖣𝖤𝖥𝖦𝖧𝖨𝖩𝖪𝖫𝖬𝖭𝖮𝖯𝖰𝖱𝖲𝖳𝖴𝖵𝖶𝖷𝖸𝖹𝖺𝖻𝖼𝖽𝖾𝖿𝗀𝗁𝗂𝗃𝗄𝗅𝗇𝗈𝗉𝗊𝗋𝗌𝗍𝗎𝗏𝗐𝗑𝗒𝗓𝗔𝗕𝗖𝗗𝗘𝗙𝗚𝗛𝗜𝗝𝗞𝗟𝗠𝗡𝗢𝗣𝗤𝗥𝗦𝗧𝗨𝗩𝗪𝗫𝗬𝗭𝗮𝗯𝗰𝗱𝗲𝗳𝗴𝗵𝗶𝗷𝗸𝗹𝗻𝗼𝗽𝗾𝗿𝘀𝘁"
    "𝘂𝘃𝘄𝘅𝘆𝘇𝘈𝘉𝘊𝘋𝘌𝘍𝘎𝘏𝘐𝘑𝘒𝘓𝘔𝘕𝘖𝘗𝘘𝘙𝘚𝘛𝘜𝘝𝘞𝘟𝘠𝘡𝘢𝘣𝘤𝘥𝘦𝘧𝘨𝘩𝘪𝘫𝘬𝘭𝘯𝘰𝘱𝘲𝘳𝘴𝘵𝘶𝘷𝘸𝘹𝘺𝘻𝘼𝘽𝘾𝘿𝙀𝙁𝙂𝙃𝙄𝙅𝙆𝙇𝙈𝙉𝙊𝙋𝙌𝙍𝙎𝙏𝙐𝙑𝙒𝙓𝙔𝙕𝙖𝙗𝙘𝙙𝙚𝙛𝙜𝙝𝙞𝙟𝙠𝙡𝙣𝙤𝙥𝙦𝙧"
    "𝙨𝙩𝙪𝙫𝙬𝙭𝙮𝙯𝙰𝙱𝙲𝙳𝙴𝙵𝙶𝙷𝙸𝙹𝙺𝙻𝙼𝙽𝙾𝙿𝚀𝚁𝚂𝚃𝚄𝚅𝚆𝚇𝚈𝚉𝚊𝚋𝚌𝚍𝚎𝚏𝚐𝚑𝚒𝚓𝚔𝚕𝚗𝚘𝚙𝚚𝚛𝚜𝚝𝚞𝚟𝚠𝚡𝚢𝚣𝚤𝚨𝚩𝚬𝚭𝚮𝚰𝚱𝚳𝚴𝚶𝚸𝚻𝚼𝚾𝛂𝛄𝛊𝛎𝛐𝛒𝛔𝛖𝛠𝛢𝛣𝛦𝛧𝛨𝛪𝛫𝛭𝛮𝛰𝛲𝛵𝛶𝛸𝛼𝛾𝜄"
    "𝜈𝜊𝜌𝜎𝜐𝜚𝜜𝜝𝜠𝜡𝜢𝜤𝜥𝜧𝜨𝜪𝜬𝜯𝜰𝜲𝜶𝜸𝜾𝝂𝝄𝝆𝝈𝝊𝝔𝝖𝝗𝝚𝝛𝝜𝝞𝝟𝝡𝝢𝝤𝝦𝝩𝝪𝝬𝝰𝝲𝝸𝝼𝝾𝞀𝞂𝞄𝞎𝞐𝞑𝞔𝞕𝞖𝞘𝞙𝞛𝞜𝞞𝞠𝞣𝞤𝞦𝞪𝞬𝞲𝞶𝞸𝞺𝞼𝞾𝟈𝟊𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗𝟘𝟙𝟚𝟛𝟜𝟝𝟞𝟟𝟠𝟡𝟢𝟣𝟤𝟥"
    "𝟦𝟧𝟨𝟩𝟪𝟫𝟬𝟭𝟮𝟯𝟰𝟱𝟲𝟳𝟴𝟵𝟶𝟷𝟸𝟹𝟺𝟻𝟼𝟽𝟾𝟿кмтнвεκτωı"
)
_TO = (
    "bglr235sl388agyiiwuyijabezhlkmnoptyxayivopouyf2pcjcmsljabe3kmhopctyxba6reopcyxsijwvvyyheli3dgqwwusow"
    "qqhnnugfoyodrtiyajewmhyghz4brwsvslcpkd6gbcoouvwzrgyicghhhhllllnpqrrrzzkbceeefmoiyddeij2iabcehljkmnop"
    "stxyzaceghijlopsvxylabcdefghljklmnopqrstuvwxyzabcdefghijklnopqrstuvwxyzabcdefghljklmnopqrstuvwxyzabc"
    "defgijklnopqrstuvwxyzabcdefghljklmnopqrstuvwxyzabcdefghijklnopqrstuvwxyzacdgjknopqstuvwxyzabcdfhijkl"
    "npqrstuvwxyzabcdefghljklmnopqrstuvwxyzabcdefghijklnopqrstuvwxyzabdefgjklmnopqstuvwxyabcdefghijklnopq"
    "rstuvwxyzabdefgljklmostuvwxyabcdefghijklnopqrstuvwxyzabcdefghljklmnopqrstuvwxyzabcdefghijklnopqrstuv"
    "wxyzabcdefghljklmnopqrstuvwxyzabcdefghijklnopqrstuvwxyzabcdefghljklmnopqrstuvwxyzabcdefghijklnopqrst"
    "uvwxyzabcdefghljklmnopqrstuvwxyzabcdefghijklnopqrstuvwxyzabcdefghljklmnopqrstuvwxyzabcdefghijklnopqr"
    "stuvwxyzabcdefghljklmnopqrstuvwxyzabcdefghijklnopqrstuvwxyziabezhlkmnoptyxayivopoupabezhlkmnoptyxayi"
    "vopoupabezhlkmnoptyxayivopoupabezhlkmnoptyxayivopoupabezhlkmnoptyxayivopoupfol23456789ol23456789ol23"
    "456789ol23456789ol23456789kmthbektwi"
)
_PAIRS = dict(zip(_FROM, _TO, strict=True))
# Page text is lower-cased before signatures run, so a capital look-alike (Greek Η for H) arrives as its
# lower-case form (η): that form folds like the capital it came from. Greek lower case looks unlike Latin
# (defacers borrow its capitals), so there the capital's reading wins; elsewhere the letter's own does.
_PAIRS |= {k.lower(): v for k, v in list(_PAIRS.items())
           if len(k.lower()) == 1 and k.lower() != k and (k.lower() not in _PAIRS or "\u0370" <= k <= "\u03ff")}
TABLE = str.maketrans(_PAIRS)


def skeleton(text: str) -> str:
    """Text with look-alike letters folded to the Latin letter they imitate (lower case)."""
    return text if text.isascii() else text.translate(TABLE)
