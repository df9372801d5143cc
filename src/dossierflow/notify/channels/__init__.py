"""Delivery channels: each turns an `Outgoing` message into one request to one service."""
