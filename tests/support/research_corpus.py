"""A small review corpus in Japanese, Chinese and English, written for these tests, with known answers."""
from __future__ import annotations

BRANDS = [
    {"name": "Sony", "aliases": ["ソニー", "索尼"]},
    {"name": "Panasonic", "aliases": ["パナソニック", "松下"]},
    {"name": "Anker", "aliases": ["アンカー", "安克"]},
]

# id, language, site, brands, sentiment, stars (1-5 or None), published (None: only the fetch time), title, body
ROWS = [
    ("ja-1", "ja", "kakaku.example.jp", ["Sony"], "positive", 5, "2024-01-05", "最高のヘッドホン",
     "ソニーのヘッドホンは音質が素晴らしい。ノイズキャンセリングも強力です。"),
    ("ja-2", "ja", "kakaku.example.jp", ["Sony"], "negative", 1, "2024-01-20", "すぐ壊れた",
     "ｿﾆｰのイヤホンを買ったが、バッテリーが一週間で壊れた。返品したい。"),
    ("ja-3", "ja", "amazon.example.co.jp", ["Panasonic"], "positive", 4, "2024-02-03", "よく乾く",
     "パナソニックのドライヤーは風量が強くてすぐ乾く。"),
    ("ja-4", "ja", "amazon.example.co.jp", ["Panasonic"], "negative", 2, "2024-02-15", "音がうるさい",
     "パナソニックの掃除機は音がうるさい。バッテリーの持ちも悪い。"),
    ("ja-5", "ja", "kakaku.example.jp", ["Sony"], "neutral", 3, "2024-03-01", "普通",
     "ＳＯＮＹのテレビ、画質は普通。値段相応。"),
    ("ja-6", "ja", "kakaku.example.jp", [], "positive", 5, "2024-03-10", "便利な充電器",
     "この充電器は小さくて便利です。"),
    ("zh-1", "zh", "jd.example.cn", ["Sony"], "positive", 5, "2024-01-08", "音质很好",
     "索尼耳机音质很好，降噪效果出色。"),
    ("zh-2", "zh", "jd.example.cn", ["Sony"], "negative", 1, "2024-02-10", "电池坏了",
     "索尼耳机用了一周电池就坏了，客服也不理。"),
    ("zh-3", "zh", "tmall.example.cn", ["Panasonic"], "negative", 2, "2024-02-20", "噪音大",
     "松下吸尘器噪音很大，电池续航也差。"),
    ("zh-4", "zh", "tmall.example.cn", ["Panasonic"], "positive", 4, "2024-03-05", "不错",
     "松下电饭煲做饭很香，很满意。"),
    ("zh-5", "zh", "jd.example.cn", ["Anker"], "positive", 5, "2024-03-12", "充电快",
     "安克充电宝充电很快，做工扎实。"),
    ("en-1", "en", "www.amazon.example.com", ["Sony"], "positive", 5, "2024-01-10", "Amazing sound",
     "The Sony headphones have amazing sound and great noise cancelling."),
    ("en-2", "en", "www.amazon.example.com", ["Sony"], "negative", 1, "2024-01-25", "Battery died",
     "My SONY earbuds stopped charging after a week. The battery died completely."),
    ("en-3", "en", "www.amazon.example.com", ["Panasonic"], "negative", 2, "2024-02-12", "Too loud",
     "The Panasonic vacuum is too loud and the battery life is short."),
    ("en-4", "en", "reddit.example.com", ["Anker"], "positive", 4, "2024-02-25", "Solid charger",
     "Anker power bank charges fast. Solid build quality."),
    ("en-5", "en", "reddit.example.com", ["Anker"], "negative", 2, "2024-03-15", "Cable frayed",
     "The Anker cable frayed after two months. Battery life is fine though."),
    ("en-6", "en", "www.amazon.example.com", ["Sony"], "positive", 4, "2024-03-20", "Good value",
     "Good value TV from Sony, bright picture."),
    ("en-7", "en", "reddit.example.com", [], "neutral", None, "2024-03-22", "Which headphones?",
     "Looking for headphones recommendations under 100 dollars."),
    ("en-8", "en", "reddit.example.com", ["Sony"], "negative", None, None, "Customer service",
     "Sony customer service never answered my email about the broken battery."),
]
FETCHED_AT = "2024-03-25T09:00:00.000+00:00"

# What the category engine would put on some of these reviews: id -> (categories with scores, aspects as
# (category, that sentence's sentiment, sentence)). The rest carry none, as reviews indexed before it did.
CATEGORIES = {
    "ja-1": ([("praise", 0.93)], [("praise", "positive", "ソニーのヘッドホンは音質が素晴らしい。")]),
    "ja-2": ([("defect", 0.95), ("complaint", 0.88)],
             [("defect", "negative", "ｿﾆｰのイヤホンを買ったが、バッテリーが一週間で壊れた。"),
              ("customer_service", "neutral", "返品したい。")]),
    "ja-4": ([("complaint", 0.81)], [("defect", "negative", "バッテリーの持ちも悪い。")]),
    "ja-5": ([("price", 0.62)], [("price", "neutral", "値段相応。")]),
    "zh-2": ([("defect", 0.94), ("customer_service", 0.9), ("complaint", 0.86)],
             [("defect", "negative", "索尼耳机用了一周电池就坏了，"), ("customer_service", "negative", "客服也不理。")]),
    "en-2": ([("defect", 0.97), ("complaint", 0.7)],
             [("defect", "negative", "My SONY earbuds stopped charging after a week.")]),
    "en-5": ([("defect", 0.83)], [("defect", "negative", "The Anker cable frayed after two months."),
                                  ("battery", "positive", "Battery life is fine though.")]),
    "en-6": ([("praise", 0.77), ("price", 0.74)], [("price", "positive", "Good value TV from Sony, bright picture.")]),
    "en-7": ([("question", 0.91), ("purchase_intent", 0.86)],
             [("purchase_intent", "neutral", "Looking for headphones recommendations under 100 dollars.")]),
    "en-8": ([("customer_service", 0.96), ("complaint", 0.9)],
             [("customer_service", "negative", "Sony customer service never answered my email about the broken "
                                               "battery.")]),
}


def document(row: tuple) -> dict:
    doc_id, language, site, brands, label, stars, published, title, body = row
    rating = None if stars is None else {"value": float(stars), "best": 5.0, "worst": 1.0,
                                         "normalized": (stars - 1) / 4}
    return {
        "doc_id": doc_id, "source": site.split(".")[0], "site": site,
        "source_url": f"https://{site}/reviews/{doc_id}", "review_url": f"https://{site}/reviews/{doc_id}#r",
        "author": f"user-{doc_id}", "title": title, "body": body, "item_name": None, "rating": rating,
        "published_at": f"{published}T12:00:00+00:00" if published else None, "fetched_at": FETCHED_AT,
        "language": language, "page_language": language, "brands": brands,
        "sentiment": {"label": label, "score": 0.9},
        **categorised(doc_id),
    }


def categorised(doc_id: str) -> dict:
    """The `categories` and `aspects` fields of a corpus review, when it has any."""
    if doc_id not in CATEGORIES:
        return {}
    categories, aspects = CATEGORIES[doc_id]
    return {"categories": [{"name": name, "score": score} for name, score in categories],
            "aspects": [{"category": c, "sentiment": s, "sentence": sentence} for c, s, sentence in aspects]}


DOCUMENTS = [document(row) for row in ROWS]


def ids(docs) -> set[str]:
    return {doc["doc_id"] for doc in docs}


def where(**conditions) -> set[str]:
    """Ids of the corpus documents for which every condition(document) holds."""
    return {doc["doc_id"] for doc in DOCUMENTS if all(test(doc) for test in conditions.values())}
