// Segment every image of a folder with NuSeT (one Python start for the whole folder).
// Writes <name>_labels.tif (and <name>_rois.zip) into the output folder.
input = getDirectory("Folder of images to segment");
output = getDirectory("Folder for the label images");
run("NuSeT Segment Folder", "input=[" + input + "] output=[" + output + "] min_score=0.85 add_rois");
