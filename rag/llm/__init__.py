"""The optional LLM reader, imported only when reader="llm": the OpenAI-compatible client (client.py), the
prompt and the parsing of a streamed answer into cited sentences (prompt.py), the verifier of each
sentence against the passage it cites (verify.py, with facts.py and support.py), and the reader that
wires them and falls back to the extractive answer (reader.py)."""
