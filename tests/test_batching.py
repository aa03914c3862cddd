"""Micro-batching of items into one call on a worker thread: who goes together, and when."""
import asyncio
import threading
import time

from pipelines.batching import MicroBatcher


class Recorder:
    """A batch call that remembers each batch and which thread ran it."""

    def __init__(self):
        self.batches: list[list[int]] = []
        self.threads: set[str] = set()

    def __call__(self, values: list[int]) -> list[int]:
        self.batches.append(list(values))
        self.threads.add(threading.current_thread().name)
        return [value * 10 for value in values]


async def trickle(batcher: MicroBatcher, values, gap: float) -> list[int]:
    """Submit one value every `gap` seconds, as pages' items arrive; the results in order."""
    tasks = []
    for value in values:
        tasks.append(asyncio.ensure_future(batcher.submit(value)))
        await asyncio.sleep(gap)
    return list(await asyncio.gather(*tasks))


def test_items_of_one_turn_go_together_and_each_gets_its_own_result():
    recorder = Recorder()

    async def main():
        batcher = MicroBatcher(recorder, max_size=50, name="test")
        results = await asyncio.gather(*(batcher.submit(value) for value in range(7)))
        await batcher.close()
        return results

    assert asyncio.run(main()) == [0, 10, 20, 30, 40, 50, 60]
    assert recorder.batches == [list(range(7))]
    assert recorder.threads and all(name.startswith("test") for name in recorder.threads)


def test_without_linger_trickling_items_go_one_by_one():
    recorder = Recorder()

    async def main():
        batcher = MicroBatcher(recorder, max_size=50, name="test")
        await trickle(batcher, range(5), gap=0.02)
        await batcher.close()

    asyncio.run(main())
    assert len(recorder.batches) == 5


def test_linger_gathers_a_steady_stream_into_full_batches():
    recorder = Recorder()

    async def main():
        batcher = MicroBatcher(recorder, max_size=10, name="test", linger=5.0, quiet=0.5)
        results = await trickle(batcher, range(30), gap=0.005)
        await batcher.close()
        return results

    assert asyncio.run(main()) == [value * 10 for value in range(30)]
    assert [len(batch) for batch in recorder.batches] == [10, 10, 10]


def test_a_quiet_spell_sends_what_waits_without_the_whole_linger():
    recorder = Recorder()

    async def main():
        batcher = MicroBatcher(recorder, max_size=100, name="test", linger=30.0, quiet=0.05)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await trickle(batcher, range(4), gap=0.005)
        waited = loop.time() - started
        await batcher.close()
        return waited

    assert asyncio.run(main()) < 1.0  # far less than the 30 s linger
    assert recorder.batches == [[0, 1, 2, 3]]


def test_linger_caps_the_wait_of_a_stream_that_never_pauses():
    recorder = Recorder()

    async def main():
        batcher = MicroBatcher(recorder, max_size=1000, name="test", linger=0.2, quiet=0.1)
        await trickle(batcher, range(100), gap=0.01)  # a second of items, 10 ms apart
        await batcher.close()

    asyncio.run(main())
    assert 3 <= len(recorder.batches) <= 10  # about one batch per 0.2 s, not one per item
    assert sorted(value for batch in recorder.batches for value in batch) == list(range(100))


def test_close_sends_what_still_waits():
    recorder = Recorder()

    async def main():
        batcher = MicroBatcher(recorder, max_size=100, name="test", linger=60.0, quiet=60.0)
        pending = [asyncio.ensure_future(batcher.submit(value)) for value in range(3)]
        await asyncio.sleep(0)
        await batcher.close()
        return [task.result() for task in pending]

    assert asyncio.run(main()) == [0, 10, 20]
    assert recorder.batches == [[0, 1, 2]]


def test_a_failing_batch_fails_its_own_items_only():
    calls = []

    def flaky(values):
        calls.append(list(values))
        if 0 in values:
            raise RuntimeError("Elasticsearch said no")
        return values

    async def main():
        batcher = MicroBatcher(flaky, max_size=2, name="test")
        outcomes = await asyncio.gather(*(batcher.submit(value) for value in range(4)), return_exceptions=True)
        await batcher.close()
        return outcomes

    outcomes = asyncio.run(main())
    assert [type(outcome).__name__ for outcome in outcomes[:2]] == ["RuntimeError", "RuntimeError"]
    assert outcomes[2:] == [2, 3]


def test_the_event_loop_goes_on_while_a_batch_is_processed():
    """A model at work (here: a call that holds its thread for 0.6 s) must not hold up downloads meanwhile."""
    def slow(values):
        time.sleep(0.6)
        return values

    async def main():
        batcher = MicroBatcher(slow, max_size=10, name="test")
        loop = asyncio.get_running_loop()
        ticks = []

        async def tick():
            while True:
                ticks.append(loop.time())
                await asyncio.sleep(0.01)

        ticker = asyncio.ensure_future(tick())
        await batcher.submit(1)
        ticker.cancel()
        await batcher.close()
        return ticks

    ticks = asyncio.run(main())
    assert len(ticks) > 20 and max(b - a for a, b in zip(ticks, ticks[1:])) < 0.3
