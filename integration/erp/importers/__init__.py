"""The ERP-agnostic importers: typed records (integration/erp/types.py) from any adapter implementing
integration/erp/protocol.py into the platform's catalog, stock, counterparties and order flow."""
