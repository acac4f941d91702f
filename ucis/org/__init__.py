"""Organisation tree, staff users and roles (组织机构, 人员, 角色)."""
