"""Pictures of runs and results, drawn with matplotlib's Agg canvas (no display needed, no pyplot
state): training curves, confusion matrices, alignments over the input, the cell-sweep figure."""
