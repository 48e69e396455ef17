"""Where API keys are kept (the ``KeyStore`` port, service/ports.py): memory and SQLite."""
