"""The REST API (``ringfence serve``): a second entry point beside the command line, calling
the same service functions. ``app.create_app`` builds it over an opened service bundle
(bootstrap.open_service); ``problems`` renders errors as RFC 9457 problem documents;
``metrics`` is what ``/metrics`` shows. docs/api.md describes it for its users."""
