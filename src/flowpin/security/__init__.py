"""What keeps one tenant's workflows away from what is not theirs: environment secrets scoped
to the tenants an operator names (``secrets``) and the address policy every outbound
connection of a built-in action goes through (``address_policy``)."""
