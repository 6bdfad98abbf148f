"""The gateway: web chat, channels, agent console and JSON API (the only public process)."""
