"""Research over the stored reviews: the query syntax, search, reports, charts, exports and the JSON API."""
