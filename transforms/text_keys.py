"""The key that joins a text with its vector: the embed stage writes it, every stage that reads
vectors looks texts up by it. Free of Beam."""

import hashlib


def text_hash(text: str) -> str:
    """Key of a text in the embeddings dataset."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
