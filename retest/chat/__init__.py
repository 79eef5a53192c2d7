"""The chat face's conversation engine, shared by the terminal (``retest chat``) and the browser
(``retest serve``): ``grammar`` (a message → an intent; the reply), ``session`` (``ChatSession``: acts on
the intents through ``agent.runner.run_claims`` and keeps the conversation), ``render`` (a result as
text), ``llm`` (free text → a bounded tool loop over the same intents, with a model configured) and
``terminal`` (the Rich prompt loop)."""
