"""Word tables of the data-processors plugin: synonyms (English, Chinese) and traditional -> simplified."""

from __future__ import annotations

from typing import Dict, List

# A small synonym table (EDA's WordNet stand-in); extend it with ``synonyms=`` or :meth:`add_synonyms`.
SYNONYMS_EN: Dict[str, List[str]] = {
    "good": ["fine", "great", "nice"], "bad": ["poor", "awful", "terrible"], "big": ["large", "huge"],
    "small": ["little", "tiny"], "fast": ["quick", "rapid", "speedy"], "quick": ["fast", "rapid"],
    "slow": ["sluggish", "unhurried"], "happy": ["glad", "cheerful", "joyful"], "sad": ["unhappy", "gloomy"],
    "begin": ["start", "commence"], "start": ["begin", "launch"], "end": ["finish", "stop"],
    "make": ["create", "build", "produce"], "use": ["employ", "utilize", "apply"], "show": ["display", "reveal"],
    "get": ["obtain", "acquire", "fetch"], "give": ["provide", "supply"], "help": ["assist", "aid"],
    "find": ["locate", "discover"], "change": ["alter", "modify"], "answer": ["reply", "response"],
    "easy": ["simple", "effortless"], "hard": ["difficult", "tough"], "smart": ["clever", "bright"],
    "error": ["mistake", "fault"], "problem": ["issue", "trouble"], "method": ["technique", "approach"],
    "result": ["outcome", "consequence"], "important": ["significant", "crucial"], "new": ["fresh", "novel"],
    "old": ["aged", "former"], "many": ["numerous", "several"], "often": ["frequently", "regularly"],
    "buy": ["purchase"], "car": ["automobile", "vehicle"], "house": ["home", "residence"],
    "movie": ["film", "picture"], "love": ["adore", "cherish"], "like": ["enjoy", "appreciate"],
    "hate": ["detest", "loathe"], "say": ["state", "tell"], "think": ["believe", "consider"],
    "look": ["glance", "watch"], "run": ["execute", "operate"], "return": ["give back", "yield"],
    "value": ["amount", "quantity"], "list": ["sequence", "array"], "file": ["document", "record"],
    "function": ["routine", "procedure"], "create": ["make", "construct"], "remove": ["delete", "drop"],
    "object": ["instance", "item"], "number": ["figure", "count"], "string": ["text"],
    "default": ["standard", "fallback"], "raise": ["throw", "signal"], "check": ["verify", "test"],
}
SYNONYMS_ZH: Dict[str, List[str]] = {
    "好": ["佳", "良好"], "坏": ["差", "糟糕"], "大": ["巨大", "庞大"], "小": ["微小", "细小"],
    "快": ["迅速", "快速"], "慢": ["缓慢"], "高兴": ["开心", "快乐", "愉快"], "开心": ["高兴", "快乐"],
    "难过": ["伤心", "悲伤"], "喜欢": ["喜爱", "爱好"], "讨厌": ["厌恶", "反感"], "美丽": ["漂亮", "好看"],
    "漂亮": ["美丽", "好看"], "重要": ["关键", "要紧"], "简单": ["容易", "简易"], "困难": ["艰难", "不易"],
    "问题": ["难题", "疑问"], "方法": ["办法", "方式"], "结果": ["成果", "结局"], "开始": ["起始", "开端"],
    "结束": ["完成", "终止"], "电影": ["影片"], "汽车": ["轿车", "车辆"], "房子": ["房屋", "住宅"],
    "朋友": ["友人", "伙伴"], "工作": ["职业", "差事"], "学习": ["学", "研习"], "帮助": ["协助", "援助"],
    "觉得": ["认为", "感觉"], "非常": ["十分", "很", "极其"], "很": ["非常", "十分"], "经常": ["常常", "时常"],
    "立刻": ["马上", "立即"], "马上": ["立刻", "立即"], "聪明": ["机灵", "聪慧"], "便宜": ["实惠", "廉价"],
    "贵": ["昂贵"], "东西": ["物品", "事物"], "看": ["瞧", "观看"], "说": ["讲", "谈"],
}
# Traditional -> simplified for common characters; used only with ``to_simplified=True``.
TRAD_TO_SIMP = dict(zip(
    "個們來時國說會這對學們為後麼開關動發見長點還間門問題與實經現體進車電話號語請讀書東網頁圖樣覺難愛愛氣聽寫員馬魚鳥買賣錢醫院園師範變區歡應當無幾條雜戲邊運過選擇標準數據庫軟體處理訊視頻聲錄",
    "个们来时国说会这对学们为后么开关动发见长点还间门问题与实经现体进车电话号语请读书东网页图样觉难爱爱气听写员马鱼鸟买卖钱医院园师范变区欢应当无几条杂戏边运过选择标准数据库软体处理讯视频声录"))
