"""People of a team: invitations by email, roles, deactivation, and each person's time zone."""
