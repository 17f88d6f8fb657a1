"""The playground: a browser page over the gateway's own API, served at / and /web (static files in static/)."""
