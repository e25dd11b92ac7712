"""The 1C side of a CommerceML exchange, simulated: its client (client.py) and its files (files.py, fixtures/)."""
