"""Agent-framework integrations. Each lives in its own module and imports its framework only
there (`vaultguard.integrations.langchain` needs the `langchain` extra), so importing
`vaultguard` never pulls in a framework."""
