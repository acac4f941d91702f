import pytest

from ucis.kernel.errors import DomainError
from ucis.org import roles, tree
from ucis.org.tree import NodeRef

GROUP = NodeRef(1, "group", "/1/")
COMPANY = NodeRef(2, "company", "/1/2/")
BRANCH = NodeRef(3, "branch", "/1/2/3/")
STATION = NodeRef(4, "station", "/1/2/3/4/")


def test_codes_are_normalised_and_validated():
    assert tree.normalise_code(" ljw-01 ") == "LJW-01"
    for bad in ("", "  ", "-X", "A B", "水务", "X" * 33):
        with pytest.raises(DomainError) as exc:
            tree.normalise_code(bad)
        assert exc.value.problems[0].field == "code"


def test_placement_rules():
    tree.check_placement(kind="group", parent=None)
    tree.check_placement(kind="company", parent=GROUP)
    tree.check_placement(kind="station", parent=BRANCH)
    for kind, parent in (("branch", None), ("group", COMPANY), ("company", BRANCH), ("branch", STATION),
                         ("planet", COMPANY)):
        with pytest.raises(DomainError):
            tree.check_placement(kind=kind, parent=parent)


def test_a_node_cannot_move_under_itself_or_a_descendant():
    with pytest.raises(DomainError, match="own descendant"):
        tree.check_move(node=BRANCH, new_parent=STATION)
    with pytest.raises(DomainError, match="own parent"):
        tree.check_move(node=BRANCH, new_parent=BRANCH)
    tree.check_move(node=STATION, new_parent=NodeRef(9, "branch", "/1/2/9/"))


def test_paths_and_companies():
    assert tree.child_path(None, 1) == "/1/"
    assert tree.child_path("/1/2/", 5) == "/1/2/5/"
    assert tree.depth_of("/1/2/5/") == 2
    assert tree.moved_path("/1/2/3/4/", "/1/2/3/", "/1/2/9/3/") == "/1/2/9/3/4/"
    assert tree.owning_company([GROUP, COMPANY, BRANCH]) == COMPANY
    assert tree.owning_company([GROUP]) is None
    # A prefix match must not confuse /1/2/ with /1/23/.
    assert not tree.is_in_subtree("/1/23/", "/1/2/")


def test_duplicate_codes_in_a_batch_are_all_reported():
    with pytest.raises(DomainError) as exc:
        tree.check_unique_codes(["A", "B", "A", "C"], existing=["C"], field="units")
    assert len(exc.value.problems) == 2


def test_roles_map_to_permissions():
    assert "org.view_audit" in roles.permissions_for([roles.MANAGER])
    assert "org.add_user" not in roles.permissions_for([roles.COUNTER_CLERK])
    assert set(roles.PERMISSIONS) == set(roles.ROLE_CODES)
    with pytest.raises(DomainError):
        roles.permissions_for(["wizard"])
