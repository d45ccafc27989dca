"""Evaluation: metrics, leave-one-content-type-out and holdout protocols, reports."""
