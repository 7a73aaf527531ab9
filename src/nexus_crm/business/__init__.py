"""Business metrics for the NGX team: revenue, active users, conversion, forecasts, churn mix."""
