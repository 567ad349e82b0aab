"""The Python API in a few lines: build or load the index, ask, print the citations."""

from pathlib import Path

from ragdiplo import QA

root = Path(__file__).resolve().parent.parent
index_dir = root / "index"
if (index_dir / "manifest.json").is_file():
    qa = QA.load(index_dir)
else:
    print("building the index from seeds/ (first run only)")
    qa = QA.build(root / "seeds", index_dir)

answer = qa.ask("What backstop did Starmer ask for?", k=10)
print("Answer:", answer.text if not answer.abstained else "(not in the corpus)")
print(f"Confidence: {answer.confidence:.2f}")
for i, c in enumerate(answer.citations, 1):
    print(f"[{i}] {c.doc_id}:{c.start}-{c.end}  {c.text}")
