"""The Telegram admin bot (aiogram): routers, middlewares, alerts and views; `dispatcher.py` composes them."""
