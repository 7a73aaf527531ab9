"""Churn probability per customer with its drivers, and customer lifetime value."""
