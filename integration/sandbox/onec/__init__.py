"""The 1C:Enterprise standard OData (v3) sandbox: УТ 11 / КА 2 / ERP 2 profiles."""
