"""FIU cooperation: who sees what (views), suspicious transaction reports under review capacity
(str_flow), FIU feedback and exchange (feedback), the levels L0-L4 on one time line (simulate),
and the experiment that measures what sharing adds (experiment)."""
