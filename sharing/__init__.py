"""Boards, share links, and the pages and media a link serves to people without an account."""
