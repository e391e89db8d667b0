"""One module per scaling law, named as the law (``--law <name>``); ``harness.fit.law.registry`` finds them."""
