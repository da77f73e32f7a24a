"""The team: people, roles, invitations, API tokens, sign-in and its throttle."""
