"""Venues: the ccxt client factory and the loopback Binance emulator (trading venues come later)."""
