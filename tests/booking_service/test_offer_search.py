"""The offer search (engine/offers.py) against the slow obvious answer (engine_reference:
try every start on the grain, every duration, every amount) over random loads, windows,
durations and resources: the same offers, each inside its window and fitting throughout,
best first, at most `count`, and NO exactly when the reference finds nothing."""

from __future__ import annotations

from hypothesis import event, given, settings
from hypothesis import strategies as st

from booking_service.engine import Resources, Timeline
from booking_service.engine.offers import OfferRequest, Offer, search
from tests.booking_service import engine_reference as ref

SPAN = 1500  # seconds: small enough for the reference to try every start


@st.composite
def pool(draw):
    """A model: a grant (sometimes two) and some bookings, at any second."""
    entries = []
    for g in range(draw(st.integers(1, 2))):
        a = draw(st.integers(0, SPAN // 3))
        b = draw(st.integers(a + 1, SPAN * 2))
        entries.append((("grant", g), a, b, draw(st.integers(1000, 9000)), draw(st.integers(1024, 9216))))
    for i in range(draw(st.integers(0, 5))):
        a = draw(st.integers(0, SPAN * 2))
        b = draw(st.integers(a + 1, a + SPAN // 2))
        entries.append((("booking", i), a, b, -draw(st.integers(1, 3000)), -draw(st.integers(1, 3072))))
    return ref.model_of(entries)


@st.composite
def request(draw):
    grain = draw(st.sampled_from([10, 30, 60]))
    windows = []
    for _ in range(draw(st.integers(1, 3))):
        a = draw(st.integers(0, SPAN - 1))
        windows.append((a, draw(st.integers(a + 1, min(SPAN, a + 600)))))
    shortest = draw(st.integers(1, 300))
    longest = draw(st.integers(shortest, 600))
    need = Resources(draw(st.integers(1, 2500)), draw(st.integers(1, 2560)))
    fixed = draw(st.booleans())  # a package: exactly its footprint
    most = need if fixed else Resources(draw(st.integers(need.millicores, 6000)), draw(st.integers(need.mib, 6144)))
    return OfferRequest(need=need, most=most, windows=windows, shortest=shortest, longest=longest,
                        count=draw(st.integers(1, 5)), grain=grain, horizon=600,
                        earliest=draw(st.one_of(st.none(), st.integers(0, SPAN // 3))))


def timeline_of(model) -> Timeline:
    return Timeline.build((key, *entry) for key, entry in model.items())


@settings(max_examples=300, deadline=None)
@given(models=st.dictionaries(st.sampled_from(["a", "b", "c"]), pool(), min_size=1, max_size=2), request=request())
def test_offers_are_the_references_and_keep_their_promises(models, request):
    answer = search({name: timeline_of(model) for name, model in models.items()}, request)
    expected = ref.search(models, request)
    event(f"offers: {min(len(expected), 2)}+")
    assert answer.offers == expected
    assert (answer.offers == []) == (expected == [])  # NO exactly when nothing fits anywhere

    assert len(answer.offers) <= request.count
    assert [o.key() for o in answer.offers] == sorted(o.key() for o in answer.offers)
    for offer in answer.offers:
        a, b = request.windows[offer.window]
        assert a <= offer.start < b  # inside its window, not merely after its start
        assert offer.start % request.grain == 0
        assert request.earliest is None or offer.start >= request.earliest
        assert request.shortest <= offer.duration <= request.longest
        assert request.need.fits_in(offer.resources) and offer.resources.fits_in(request.most)
        assert ref.fits_throughout(models[offer.pool], offer.resources, offer.start, offer.start + offer.duration)
    for x in answer.offers:  # one pool's offers are alternatives: they never overlap
        for y in answer.offers:
            if x is not y and x.pool == y.pool:
                assert x.start + x.duration <= y.start or y.start + y.duration <= x.start

    for index, (a, b) in enumerate(request.windows):
        lo = a if request.earliest is None else min(max(a, request.earliest), b)
        has_room = any(ref.fits_throughout(model, request.need, s, s + request.shortest)
                       for model in models.values() for s in ref.offer_starts(request, lo, lo, b))
        assert (index in answer.empty) == (not has_room), index
        if not has_room:
            assert answer.empty[index] == ref.nearest_start(models, request, b), index


def test_a_window_of_an_hour_with_two_hours_asked_starts_inside_it():
    """Seed 004's example: start in 09:45/PT1H for PT2H on an empty pool; the prototype
    offered 09:45, 11:45, 13:45, 15:45. Here: 09:45, and nothing else starts in the window."""
    nine45 = 9 * 3600 + 45 * 60
    pool_ = Timeline.build([("grant", 0, 86400, 4000, 4096)])
    req = OfferRequest(need=Resources(1000, 1024), most=Resources(1000, 1024), windows=[(nine45, nine45 + 3600)],
                       shortest=7200, longest=7200)
    answer = search({"p": pool_}, req)
    assert answer.offers == [Offer("p", nine45, 7200, Resources(1000, 1024), 0)]


def test_a_full_window_names_the_nearest_later_start():
    pool_ = Timeline.build([("grant", 0, 86400, 2000, 2048), ("b", 0, 5 * 3600 + 30, -2000, -2048)])
    req = OfferRequest(need=Resources(1000, 1024), most=Resources(1000, 1024), windows=[(3600, 7200)],
                       shortest=3600, longest=3600)
    answer = search({"p": pool_}, req)
    assert answer.offers == []
    assert answer.empty == {0: ("p", 5 * 3600 + 60)}  # the first whole minute after the booking ends


def test_durations_and_resources_grow_to_what_fits():
    pool_ = Timeline.build([("grant", 0, 86400, 8000, 8192), ("b", 3 * 3600, 86400, -6500, -1024)])
    req = OfferRequest(need=Resources(1000, 1024), most=Resources(6000, 4096), windows=[(0, 60)],
                       shortest=3600, longest=6 * 3600)
    (offer,) = search({"p": pool_}, req).offers[:1]
    # the longest duration wins over more cores: 6 hours with 1.5 cores free after 03:00,
    # so 1 core (whole cores above the minimum) and all the memory asked for
    assert (offer.start, offer.duration, offer.resources) == (0, 6 * 3600, Resources(1000, 4096))
