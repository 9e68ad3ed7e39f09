"""Read a run's TensorBoard event files with TensorBoard's own reader and print every scalar
series as JSON ({tag: [[step, value], ...]}). Used by tests/tensorboard.rs; needs the
`tensorboard` package (tests/tensorboard-requirements.txt; .ci/run installs it)."""
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
acc.Reload()
out = {tag: [[e.step, e.value] for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
print(json.dumps(out, sort_keys=True))
