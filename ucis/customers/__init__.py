"""Customer registry (客户档案): customers, accounts, premises, addresses, meters."""
