"""The dashboard's routes: pages to look (GET) and actions to take (POST)."""
