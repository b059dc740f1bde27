"""Transaction IDs that survive a restart, shared by every endpoint that takes one.

- :mod:`.store`: the ``msc_extensions_transactions`` table and its SQL.
- :mod:`.service`: :class:`~.service.PersistedTransactions`, the one service of a
  homeserver that makes a ``PUT .../{txnId}`` request idempotent, in memory while
  it runs and in the database after it answered.

The module builds one service per homeserver and hands it to every feature through
the :class:`~msc_extensions.feature.FeatureContext`. See docs/transactions.md.
"""
