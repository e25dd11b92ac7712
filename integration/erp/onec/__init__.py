"""1C:Enterprise (УТ 11 / КА 2 / ERP 2) through its standard OData interface."""
