"""The breach drill behind ``seawall demo``: synthetic users, two local vendors, a
breach, and the whole response, checked against the ground truth."""
