"""Storage: the Elasticsearch client, the index schema and its migrations, the bulk writer, the local node."""
