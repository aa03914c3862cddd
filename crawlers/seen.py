"""Which reviews the index already holds, so paging can stop where the last crawl left off."""
from __future__ import annotations

import logging

from elasticsearch.exceptions import ConnectionError as ESConnectionError, NotFoundError, TransportError

from index.storage.client import ElasticsearchUnavailable, connect, reviews_alias

logger = logging.getLogger(__name__)


class SeenReviews:
    def __init__(self, client, alias: str):
        self.client = client
        self.alias = alias

    @classmethod
    def from_settings(cls, settings) -> "SeenReviews | None":
        es_config = settings.get("KUCHIKOMI_ELASTICSEARCH")
        if es_config is None:
            return None
        try:
            return cls(connect(es_config), reviews_alias(es_config))
        except ElasticsearchUnavailable:
            return None

    def all_known(self, doc_ids: list[str]) -> bool:
        """True when every id is stored already; False when one is new or the index cannot say."""
        if not doc_ids:
            return False
        try:
            reply = self.client.search(index=self.alias, body={
                "query": {"ids": {"values": doc_ids}}, "_source": False, "size": len(doc_ids)})
        except (ESConnectionError, NotFoundError, TransportError) as exc:
            logger.warning("cannot tell which reviews are indexed already, paging on: %s", exc)
            return False
        return len({hit["_id"] for hit in reply["hits"]["hits"]}) == len(set(doc_ids))
