"""`retriever serve`: the HTTP app apart from its guards, the page, and the client that
finds a running service."""
