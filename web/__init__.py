"""The web workspace: overview, inbox, mentions, alerts, reports and sources for a team, in a browser."""
