"""ERP connectors: the adapter protocol every ERP implements, and the MoySklad adapter (moysklad/)."""
