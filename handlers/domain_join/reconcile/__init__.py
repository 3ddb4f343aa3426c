"""Reconciliation of the fleet, the ledger and the directory (docs/reconcile.md).

``plan`` holds the pure decisions, ``inventory`` the inventory document's JSON schema and the work
items' wire format, ``worker`` the orchestrator (``Reconciler``); the adapter is
``adapter/reconcile.py`` and the Lambda entry points are ``app.planner_handler`` / ``app.reconcile_handler``.
"""
