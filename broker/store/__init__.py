"""The store: tables, engine and transactions, migrations, and the shared reads and writes of rows."""
