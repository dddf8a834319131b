"""GET /api/v3/stages/captcha/ through StagesApi.stages_captcha_list: filters, ordering and the
pagination envelope (spec section 5). Each test narrows the shared database to its own stages
with a unique tag in the names, so counts are exact."""

import pytest
from authentik_client import PaginatedCaptchaStageList
from authentik_client.exceptions import ApiException

from helpers import error_body, new_stage


def pagination(page: PaginatedCaptchaStageList) -> dict:
    return page.pagination.to_dict()


def test_filter_by_name_is_exact_and_case_sensitive(api, tag):
    new_stage(api, f"Alpha-{tag}")
    new_stage(api, f"Alpha-{tag}-2")

    page = api.stages_captcha_list(name=f"Alpha-{tag}")
    assert [s.name for s in page.results] == [f"Alpha-{tag}"]
    assert page.pagination.count == 1
    assert page.autocomplete == {}

    assert api.stages_captcha_list(name=f"alpha-{tag}").results == []


def test_filter_by_public_key(api, tag):
    new_stage(api, f"pk-a-{tag}", public_key=f"shared-{tag}")
    new_stage(api, f"pk-b-{tag}", public_key=f"shared-{tag}")
    new_stage(api, f"pk-c-{tag}", public_key=f"other-{tag}")

    page = api.stages_captcha_list(public_key=f"shared-{tag}")
    assert [s.name for s in page.results] == [f"pk-a-{tag}", f"pk-b-{tag}"]
    assert api.stages_captcha_list(public_key=f"SHARED-{tag}").results == []


def test_search_is_case_insensitive_and_all_terms_must_match(api, tag):
    new_stage(api, f"Captcha Login {tag}")
    new_stage(api, f"captcha signup {tag}")
    new_stage(api, f"Other {tag}")

    def names(page):
        return sorted(s.name for s in page.results)

    assert names(api.stages_captcha_list(search=tag.upper())) == sorted(
        [f"Captcha Login {tag}", f"captcha signup {tag}", f"Other {tag}"]
    )
    assert names(api.stages_captcha_list(search=f"CAPTCHA {tag}")) == sorted(
        [f"Captcha Login {tag}", f"captcha signup {tag}"]
    )
    assert names(api.stages_captcha_list(search=f"login,{tag}")) == [f"Captcha Login {tag}"]
    assert names(api.stages_captcha_list(search=f"nomatch {tag}")) == []


def test_ordering(api, tag):
    new_stage(api, f"ord-b-{tag}", score_min_threshold=0.1, public_key="k2")
    new_stage(api, f"ord-a-{tag}", score_min_threshold=0.3, public_key="k1")
    new_stage(api, f"ord-c-{tag}", score_min_threshold=0.2, public_key="k1")

    def names(ordering):
        return [s.name for s in api.stages_captcha_list(search=f"ord {tag}", ordering=ordering).results]

    # Default ordering is by name.
    assert names(None) == [f"ord-a-{tag}", f"ord-b-{tag}", f"ord-c-{tag}"]
    assert names("name") == [f"ord-a-{tag}", f"ord-b-{tag}", f"ord-c-{tag}"]
    assert names("-name") == [f"ord-c-{tag}", f"ord-b-{tag}", f"ord-a-{tag}"]
    assert names("score_min_threshold") == [f"ord-b-{tag}", f"ord-c-{tag}", f"ord-a-{tag}"]
    assert names("-score_min_threshold") == [f"ord-a-{tag}", f"ord-c-{tag}", f"ord-b-{tag}"]
    assert names("public_key,-name") == [f"ord-c-{tag}", f"ord-a-{tag}", f"ord-b-{tag}"]
    # Unknown fields are dropped; with none left the default (name) applies.
    assert names("flow_set") == [f"ord-a-{tag}", f"ord-b-{tag}", f"ord-c-{tag}"]
    assert names("nonsense,-name") == [f"ord-c-{tag}", f"ord-b-{tag}", f"ord-a-{tag}"]

    # Ties (same public_key) are broken by pk.
    by_key = api.stages_captcha_list(search=f"ord {tag}", ordering="public_key").results
    k1 = [s for s in by_key if s.public_key == "k1"]
    assert [str(s.pk) for s in k1] == sorted(str(s.pk) for s in k1)
    assert by_key[-1].name == f"ord-b-{tag}"


def test_pages_and_pagination_numbers(api, tag):
    names = [f"page-{i}-{tag}" for i in range(5)]
    for name in names:
        new_stage(api, name)

    first = api.stages_captcha_list(search=tag, page_size=2)
    assert [s.name for s in first.results] == names[0:2]
    assert pagination(first) == {
        "next": 2, "previous": 0, "count": 5, "current": 1, "total_pages": 3,
        "start_index": 1, "end_index": 2,
    }
    assert first.autocomplete == {}

    second = api.stages_captcha_list(search=tag, page=2, page_size=2)
    assert [s.name for s in second.results] == names[2:4]
    assert pagination(second) == {
        "next": 3, "previous": 1, "count": 5, "current": 2, "total_pages": 3,
        "start_index": 3, "end_index": 4,
    }

    last = api.stages_captcha_list(search=tag, page=3, page_size=2)
    assert [s.name for s in last.results] == names[4:]
    assert pagination(last) == {
        "next": 0, "previous": 2, "count": 5, "current": 3, "total_pages": 3,
        "start_index": 5, "end_index": 5,
    }

    # No page_size: 20 per page, so all five on page 1.
    default = api.stages_captcha_list(search=tag)
    assert [s.name for s in default.results] == names
    assert pagination(default) == {
        "next": 0, "previous": 0, "count": 5, "current": 1, "total_pages": 1,
        "start_index": 1, "end_index": 5,
    }

    # page_size 0 or negative means 100.
    for size in (0, -3):
        page = api.stages_captcha_list(search=tag, page_size=size)
        assert len(page.results) == 5
        assert page.pagination.total_pages == 1


def test_empty_result_envelope(api, tag):
    page = api.stages_captcha_list(search=f"nothing-{tag}")
    assert page.results == []
    assert page.autocomplete == {}
    assert pagination(page) == {
        "next": 0, "previous": 0, "count": 0, "current": 1, "total_pages": 1,
        "start_index": 0, "end_index": 0,
    }


def test_page_size_is_capped_at_100(api, tag):
    for i in range(101):
        new_stage(api, f"cap-{i:03d}-{tag}")
    page = api.stages_captcha_list(search=tag, page_size=500)
    assert len(page.results) == 100
    assert pagination(page) == {
        "next": 2, "previous": 0, "count": 101, "current": 1, "total_pages": 2,
        "start_index": 1, "end_index": 100,
    }
    tail = api.stages_captcha_list(search=tag, page=2, page_size=500)
    assert [s.name for s in tail.results] == [f"cap-100-{tag}"]


@pytest.mark.parametrize("page", [0, -1, 4])
def test_invalid_page_is_404(api, tag, page):
    for i in range(3):
        new_stage(api, f"badpage-{i}-{tag}")
    with pytest.raises(ApiException) as caught:
        api.stages_captcha_list(search=tag, page=page, page_size=1)
    assert caught.value.status == 404
    assert error_body(caught.value) == {"detail": "Invalid page."}
