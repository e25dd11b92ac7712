"""The MoySklad connector: client, adapter, mappers, syncs, outbox handlers, webhooks."""
